"""The framework floor (bench/floor.py) is reachable only through the bench's own settings, never production URLs."""

import importlib

import pytest
from django.urls import Resolver404, resolve

from bench.floor import FLOOR_PATH


def test_the_floor_is_not_mounted_by_the_project_urls():
    with pytest.raises(Resolver404):
        resolve("/" + FLOOR_PATH)


def test_the_bench_urls_mount_the_floor_beside_every_project_route():
    from config import urls as project

    bench_urls = importlib.import_module("bench.urls")
    assert bench_urls.urlpatterns[0].callback.view_class.__name__ == "FloorApi"
    assert bench_urls.urlpatterns[1:] == project.urlpatterns


@pytest.mark.django_db
def test_the_floor_inserts_one_row_for_an_authenticated_json_post(settings, merchant_client):
    from bench.floor import ensure_table

    settings.ROOT_URLCONF = "bench.urls"
    ensure_table()
    reply = merchant_client.post("/" + FLOOR_PATH, {"order_no": "F-1", "gross_amount": "50.00"}, format="json")
    assert reply.status_code == 201, reply.content
    assert reply.json()["order_no"] == "F-1"
