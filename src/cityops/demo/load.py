"""Load the demo city (申江市) into an empty database through the ordinary admin imports."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from cityops.adapters.db.models import RegionRow
from cityops.bootstrap import App
from cityops.demo.cameras import load_cameras
from cityops.demo.city import DemoCity, generate_demo_city
from cityops.demo.components import generate_components
from cityops.demo.gazetteer import generate_gazetteer
from cityops.demo.layers import POLICE_LAYER, POLICE_LAYER_NAME, police_beats
from cityops.demo.lifeline import load_lifeline
from cityops.domain.regions import parse_region_features
from cityops.domain.taxonomy import load_default_taxonomy
from cityops.service import admin
from cityops.service.geodata import import_components, import_gazetteer
from cityops.service.layers import import_layer

DEMO_RULES_VERSION = "demo-v1"
DEMO_RULES_FROM = datetime(2026, 1, 1, tzinfo=UTC)


def is_loaded(app: App) -> bool:
    with app.reads() as s:
        return bool(s.scalar(select(func.count()).select_from(RegionRow)))


def load_demo(app: App, seed: int = 7) -> DemoCity:
    """Taxonomy, regions, police beats, departments, rules and users — validated like any file."""
    taxonomy = load_default_taxonomy()
    city = generate_demo_city(seed, taxonomy)
    actor = "demo-loader"
    admin.import_taxonomy(app, taxonomy, actor)
    admin.import_regions(app, parse_region_features(city.regions_geojson()), actor)
    import_layer(app, POLICE_LAYER, police_beats(city), actor, name=POLICE_LAYER_NAME)
    admin.import_departments(app, city.departments, actor)
    admin.import_rules(app, city.rules, DEMO_RULES_VERSION, DEMO_RULES_FROM, actor)
    admin.import_users(app, city.users, actor)
    gazetteer = generate_gazetteer(city)
    import_gazetteer(app, gazetteer.entries, actor)
    import_components(app, generate_components(city, gazetteer), actor)
    load_cameras(app, city, gazetteer, actor)
    load_lifeline(app, city, gazetteer, actor)  # 城市生命线 (docs/lifeline.md)
    return city
