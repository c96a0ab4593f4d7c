"""Model providers: the litellm gateway, bundled local models and the simulator."""
