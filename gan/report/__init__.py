"""What people look at: sample grids, animations and plots, and `gan report`'s one-page summary."""
