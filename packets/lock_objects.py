from .models import Packet


def packet_lock_by_code(code: str) -> Packet | None:
    return Packet.objects.select_for_update().select_related("campaign").filter(code=code).first()
