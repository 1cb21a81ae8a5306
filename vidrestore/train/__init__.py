"""vidrestore.train"""
