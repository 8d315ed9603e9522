from django.urls import path

from generations import views

app_name = "generations"

urlpatterns = [
    path("", views.create, name="create"),
    path("generations/<int:pk>/", views.detail, name="detail"),
    path("generations/<int:pk>/card/", views.card, name="card"),
    path("generations/<int:pk>/retry/", views.retry, name="retry"),
    path("generations/<int:pk>/remix/", views.remix, name="remix"),
    path("generations/<int:pk>/video.mp4", views.video, name="video"),
    path("generations/<int:pk>/thumbnail.jpg", views.thumbnail, name="thumbnail"),
]
