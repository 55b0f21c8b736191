"""medvlt data: the record schema, source adapters and curation pipelines of the MedVLThinker recipe."""

__version__ = "0.1.0"
