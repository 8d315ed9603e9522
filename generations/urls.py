from django.urls import path

from generations import gallery_views, live_views, views

app_name = "generations"

urlpatterns = [
    path("", views.create, name="create"),
    path("gallery/", gallery_views.gallery, name="gallery"),
    path("live/", live_views.live_cards, name="live_cards"),
    path("live/events/", live_views.events, name="events"),
    path("gallery/bulk/", gallery_views.bulk, name="bulk"),
    path("generations/<int:pk>/", views.detail, name="detail"),
    path("generations/<int:pk>/card/", live_views.card, name="card"),
    path("generations/<int:pk>/retry/", views.retry, name="retry"),
    path("generations/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("generations/<int:pk>/remix/", views.remix, name="remix"),
    path("generations/<int:pk>/favourite/", gallery_views.favourite, name="favourite"),
    path("generations/<int:pk>/delete/", gallery_views.delete, name="delete"),
    path("generations/<int:pk>/download/", gallery_views.download, name="download"),
    path("generations/<int:pk>/video.mp4", views.video, name="video"),
    path("generations/<int:pk>/thumbnail.jpg", views.thumbnail, name="thumbnail"),
]
