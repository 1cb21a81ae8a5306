"""vidrestore.io"""
