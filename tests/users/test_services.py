import pytest
from django.core.exceptions import ValidationError

from tests.helpers.accounts import PASSWORD
from users.models import User
from users.services import user_create, user_password_change

NEW_PASSWORD = "a-brand-new-passphrase"


def test_user_create_stores_a_hash_that_checks(db: None) -> None:
    user = user_create(username="ann", password=PASSWORD, email="ann@example.com")

    stored = User.objects.get(pk=user.pk)
    assert stored.password != PASSWORD
    assert stored.check_password(PASSWORD)
    assert not stored.check_password("not-" + PASSWORD)
    assert (stored.email, stored.is_staff, stored.is_superuser) == ("ann@example.com", False, False)


def test_user_create_may_make_staff(db: None) -> None:
    assert user_create(username="ann", password=PASSWORD, is_staff=True).is_staff is True


@pytest.mark.parametrize("password", ["123", "password", "ann-ann-ann"])
def test_user_create_refuses_a_weak_password_under_password(db: None, password: str) -> None:
    with pytest.raises(ValidationError) as caught:
        user_create(username="ann-ann-ann", password=password)

    assert set(caught.value.message_dict) == {"password"}
    assert not User.objects.exists()


def test_password_change_needs_the_old_password(owner: User) -> None:
    with pytest.raises(ValidationError) as caught:
        user_password_change(user=owner, old_password="wrong", new_password=NEW_PASSWORD)

    assert set(caught.value.message_dict) == {"old_password"}
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_change_refuses_a_weak_new_password(owner: User) -> None:
    with pytest.raises(ValidationError) as caught:
        user_password_change(user=owner, old_password=PASSWORD, new_password="owner")

    assert set(caught.value.message_dict) == {"new_password"}
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_change_stores_the_new_password(owner: User) -> None:
    user_password_change(user=owner, old_password=PASSWORD, new_password=NEW_PASSWORD)

    stored = User.objects.get(pk=owner.pk)
    assert stored.check_password(NEW_PASSWORD)
    assert not stored.check_password(PASSWORD)
