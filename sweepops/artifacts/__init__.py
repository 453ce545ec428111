"""What a deploy carries to a cluster: code snapshot, env, container, agent runtime."""
