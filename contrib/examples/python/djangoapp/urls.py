from django.urls import path

from . import views

urlpatterns = [
    path("", views.lookup),
    path("lookup", views.lookup),
]
