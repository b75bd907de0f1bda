"""bleak backend on the Bumble stack, and BLE transport selection (issue #6)."""
