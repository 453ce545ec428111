"""What is kept: the ledger of deploys and the experiment journal."""
