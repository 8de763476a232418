"""City lifeline monitoring (城市生命线): assets, devices, payload formats, units, roll-ups.

Pure: no framework, database or broker imports (numpy and shapely are libraries of maths).
"""
