"""Local stand-ins for the couriers: their real wire formats, their callbacks, no contract needed."""
