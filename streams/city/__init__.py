"""The city: districts (polygons, codes, names, population), placing a point in one, and the city
configuration (a folder: boundaries, population, ``city.toml``). Imports only :mod:`indices`."""
