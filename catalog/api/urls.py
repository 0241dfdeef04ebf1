from django.urls import path

from catalog.api.views import PackageDetailApi, PackageListApi

urlpatterns = [
    path("packages", PackageListApi.as_view(), name="api-packages"),
    path("packages/<str:slug>", PackageDetailApi.as_view(), name="api-package"),
]
