"""Hole-filling backends behind one interface (see base.Inpainter)."""
