"""vidrestore.detect"""
