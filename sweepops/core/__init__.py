"""What every layer shares: the error users see, paths, settings, progress."""
