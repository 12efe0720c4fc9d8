"""The step: networks, losses, presets and the Trainer with one function per update scheme."""
