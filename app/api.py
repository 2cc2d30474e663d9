"""Mounts every domain router under /v1."""

from fastapi import APIRouter

from app.auth import api_clients_router
from app.auth import router as auth_router
from app.clinics import router as clinics_router
from app.clinics import staff_router

api_router = APIRouter(prefix="/v1")
api_router.include_router(auth_router.router)
api_router.include_router(staff_router.router)
api_router.include_router(clinics_router.router)
api_router.include_router(api_clients_router.router)

root_router = APIRouter()
root_router.include_router(auth_router.well_known)
