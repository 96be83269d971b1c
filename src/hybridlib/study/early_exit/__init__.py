"""early_exit."""
