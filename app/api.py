"""Mounts every domain router under /v1."""

from fastapi import APIRouter

api_router = APIRouter(prefix="/v1")
