"""vidrestore.models"""
