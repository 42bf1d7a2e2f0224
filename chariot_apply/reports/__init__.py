"""What the commands show besides a plan, as pure values built from what was read: the results of the declared runs,
a run as `status` shows it, and `doctor`'s checks. ``render/`` draws them."""
