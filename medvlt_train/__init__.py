"""medvlt training: dataset formatting, rewards, SFT and RLVR entry points (see the training issue)."""
