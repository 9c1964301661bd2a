"""User settings, workspaces, archive folders, orphaned runs and remote workspaces."""
