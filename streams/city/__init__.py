"""The city: districts (polygons, codes, names, population), placing a point in one, and the city
configuration. Imports only :mod:`indices`.

A city is configuration, not code: a folder named by ``RISKMON_CITY`` holding
``districts.geojson`` (features with ``code``, ``name_ko``, ``name_en``, ``kind``),
``population.csv`` (``code``, ``population``) and optionally ``city.toml`` ([city] name, paths,
``approximate``, ``river_gauges``; [model]; [alerts]) — see :mod:`streams.city.config`.
The repository holds no third-party boundary data:

* :mod:`streams.city.importer` (``riskmon city import``) builds a city folder from official data
  (e.g. Statistics Korea's 행정동 boundaries and the resident-registration population), refusing
  invalid geometry, overlaps, gaps, bad or duplicate codes and districts without population;
* :mod:`streams.city.synth` (``riskmon city synth``) grows approximate districts (Voronoi cells)
  from a small table of facts (``gimpo_facts.toml``) or at random; riskmon's default city is
  approximate Gimpo, built in memory from those facts;
* :mod:`streams.city.folder` holds a city in memory and writes its files as text.
"""
