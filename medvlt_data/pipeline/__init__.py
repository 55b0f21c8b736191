"""Curation pipelines: datatrove steps over medvlt records, and the stages that wire them together."""
