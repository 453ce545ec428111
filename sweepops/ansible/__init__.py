"""The bridge to Ansible: ansible-runner, the workstation steps, action plugins."""
