"""vidrestore.temporal"""
