"""Default model weights shipped as package data (installed as ``vidrestore.weights``)."""
