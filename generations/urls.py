from django.urls import path

from generations import billing_views, gallery_views, live_views, share_views, views

app_name = "generations"

urlpatterns = [
    path("", views.create, name="create"),
    path("gallery/", gallery_views.gallery, name="gallery"),
    path("live/", live_views.live_cards, name="live_cards"),
    path("live/events/", live_views.events, name="events"),
    path("gallery/bulk/", gallery_views.bulk, name="bulk"),
    path("usage/", billing_views.usage, name="usage"),
    path("usage/<int:team_id>/budget/", billing_views.set_budget, name="set_budget"),
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
    path("generations/<int:pk>/share/", share_views.share, name="share"),
    path("generations/<int:pk>/share/stop/", share_views.stop_sharing, name="stop_sharing"),
    # Public: anyone with the token. Tokens are URL-safe base64; anything else is no page.
    path("s/<slug:token>/", share_views.shared, name="shared"),
    path("s/<slug:token>/video", share_views.shared_video, name="shared_video"),
    path("s/<slug:token>/thumbnail", share_views.shared_thumbnail, name="shared_thumbnail"),
]
