"""From an experiment file to a plan: resolve, load, validate, expand, plan."""
