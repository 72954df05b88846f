"""The store's team: users with a role (admin or agent), their passwords and their signed-in sessions."""
