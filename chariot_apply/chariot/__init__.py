"""chariot"""
