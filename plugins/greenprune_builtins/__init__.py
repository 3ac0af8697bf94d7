"""greenprune built-in plugins: registered through the greenprune entry-point group like any third-party plugin."""
