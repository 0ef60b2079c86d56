"""liverburden: the imaging measurement service of the trial's core lab (see README.md)."""
