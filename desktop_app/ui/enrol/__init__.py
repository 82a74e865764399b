"""The enrolment wizard, one widget per page: details, guided camera capture, review, photo files,
result (see :mod:`.wizard`)."""

from .wizard import PAGE_CAMERA, PAGE_DETAILS, PAGE_PHOTOS, PAGE_RESULT, PAGE_REVIEW, EnrolWizard

__all__ = ["PAGE_CAMERA", "PAGE_DETAILS", "PAGE_PHOTOS", "PAGE_RESULT", "PAGE_REVIEW", "EnrolWizard"]
