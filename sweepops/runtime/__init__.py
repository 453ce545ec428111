"""The only code jobs run: the offline agent, its sweep engine and the run command."""
