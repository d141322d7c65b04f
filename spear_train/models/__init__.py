"""Built-in models: game-trained tokenizers, the tiny policy architecture, shipped checkpoints, SmolLM2."""
