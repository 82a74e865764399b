"""The enrolment wizard: now the package :mod:`desktop_app.ui.enrol` (one module per page); this
module keeps the former import path working."""

from .enrol import PAGE_CAMERA, PAGE_DETAILS, PAGE_PHOTOS, PAGE_RESULT, PAGE_REVIEW, EnrolWizard
from .enrol.photo_list import PhotoDropList

__all__ = ["PAGE_CAMERA", "PAGE_DETAILS", "PAGE_PHOTOS", "PAGE_RESULT", "PAGE_REVIEW", "EnrolWizard",
           "PhotoDropList"]
