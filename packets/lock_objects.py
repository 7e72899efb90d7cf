from .models import Packet


def packet_lock_by_code(code: str) -> Packet | None:
    # of=("self",): lock the packet row only. A plain FOR UPDATE would also lock the joined campaign row and make
    # every redemption of a campaign wait for the one before it.
    return Packet.objects.select_for_update(of=("self",)).select_related("campaign").filter(code=code).first()
