"""The emulated i>clicker base, through pyusb's real code path: descriptors, strings, kernel
driver, commands and answers, vote reports (repeats, two slots, wrap), v1 pulls, unplug."""

from __future__ import annotations

import errno
import threading
from collections import Counter

import pytest
import usb.control
import usb.core
import usb.util

from bridge.clock import ManualClock
from drivers.iclicker import commands as cmds
from drivers.iclicker.codec import (
    ENDPOINT_IN,
    PRODUCT_ID,
    REPORT_SIZE,
    SET_REPORT,
    VENDOR_ID,
    CommandAck,
    Generation,
    PullReport,
    VoteReport,
    decode_report,
)
from drivers.iclicker.responses import ResponseFilter
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.iclicker_base import BaseBehaviour, EmulatedBase
from firmware_sim.iclicker_usb import EmulatedUsbBackend
from firmware_sim.radio import Air, RfConditions

# Descriptors from siefkenj/iclickerpoll protocol_documentation/usbsnooplog1_cleaned.log.
SNOOP_DEVICE = bytes.fromhex("12 01 00 02 00 00 00 40 81 18 50 01 32 00 01 02 00 01")
SNOOP_CONFIG = bytes.fromhex(
    "09 02 22 00 01 01 00 80 32 09 04 00 00 01 03 00 00 00 09 21 00 01 00 01 22 2a 00 "
    "07 05 83 03 40 00 01"
)
SNOOP_REPORT_DESCRIPTOR = bytes.fromhex(
    "05 0c 09 01 a1 01 06 00 ff 09 01 15 00 26 ff 00 95 40 75 08 81 02 a1 02 06 00 ff 09 01 "
    "15 00 26 ff 00 95 40 75 08 91 02 c0 c0"
)


def bus(
    generation: Generation = Generation.V2, **kwargs: object
) -> tuple[EmulatedUsbBackend, EmulatedBase]:
    backend = EmulatedUsbBackend()
    base = EmulatedBase(generation, **kwargs)  # type: ignore[arg-type]
    backend.plug(base)
    return backend, base


def claimed(backend: EmulatedUsbBackend) -> usb.core.Device:
    dev = usb.core.find(idVendor=VENDOR_ID, idProduct=PRODUCT_ID, backend=backend)
    assert dev is not None
    dev.detach_kernel_driver(0)
    dev.set_configuration()
    usb.util.claim_interface(dev, 0)
    return dev


def send(dev: usb.core.Device, command: cmds.Command) -> None:
    assert dev.ctrl_transfer(*SET_REPORT, command.to_bytes()) == REPORT_SIZE


def read(dev: usb.core.Device) -> bytes | None:
    try:
        return bytes(dev.read(ENDPOINT_IN, REPORT_SIZE, timeout=1))
    except usb.core.USBTimeoutError:
        return None


def test_pyusb_finds_the_base_with_the_snooped_descriptors() -> None:
    backend, _ = bus()
    dev = usb.core.find(idVendor=0x1881, idProduct=0x0150, backend=backend)
    assert dev is not None
    assert (dev.bcdUSB, dev.bMaxPacketSize0, dev.bcdDevice) == (0x0200, 64, 0x0032)
    cfg = dev.get_active_configuration()
    assert (cfg.bConfigurationValue, cfg.bmAttributes, cfg.bMaxPower) == (1, 0x80, 0x32)
    (intf,) = list(cfg)
    assert (intf.bInterfaceNumber, intf.bInterfaceClass, intf.bNumEndpoints) == (0, 3, 1)
    (ep,) = list(intf)
    assert (ep.bEndpointAddress, ep.bmAttributes, ep.wMaxPacketSize, ep.bInterval) == (
        0x83,
        3,
        64,
        1,
    )
    assert usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN
    assert bytes(intf.extra_descriptors) == SNOOP_CONFIG[18:27]  # the HID descriptor
    assert bytes(usb.control.get_descriptor(dev, 18, usb.util.DESC_TYPE_DEVICE, 0)) == SNOOP_DEVICE
    assert bytes(usb.control.get_descriptor(dev, 34, usb.util.DESC_TYPE_CONFIG, 0)) == SNOOP_CONFIG
    dev.detach_kernel_driver(0)  # pyusb claims the interface for an interface request
    report_descriptor = bytes(dev.ctrl_transfer(0x81, 0x06, 0x2200, 0, 42))
    assert report_descriptor == SNOOP_REPORT_DESCRIPTOR


@pytest.mark.parametrize(
    ("generation", "manufacturer"),
    [(Generation.V2, "iclicker"), (Generation.V1, "I-Clicker USB Base")],
)
def test_the_manufacturer_string_tells_the_generation(
    generation: Generation, manufacturer: str
) -> None:
    backend, _ = bus(generation)
    dev = usb.core.find(idVendor=VENDOR_ID, idProduct=PRODUCT_ID, backend=backend)
    assert dev.manufacturer == manufacturer
    assert dev.serial_number is None  # iSerialNumber is 0 on the real base
    backend.plug(EmulatedBase(generation), serial_number="B-0042")
    devices = list(usb.core.find(find_all=True, idVendor=VENDOR_ID, backend=backend))
    assert [d.serial_number for d in devices] == [None, "B-0042"]


def test_usbhid_holds_the_interface_until_detached() -> None:
    backend, _ = bus()
    dev = usb.core.find(idVendor=VENDOR_ID, idProduct=PRODUCT_ID, backend=backend)
    assert dev.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as busy:
        usb.util.claim_interface(dev, 0)
    assert busy.value.errno == errno.EBUSY
    dev.detach_kernel_driver(0)
    assert not dev.is_kernel_driver_active(0)
    usb.util.claim_interface(dev, 0)


def test_commands_are_answered_except_the_lcd_lines() -> None:
    backend, base = bus()
    dev = claimed(backend)
    send(dev, cmds.set_frequency("AA"))
    assert decode_report(read(dev) or b"\0") == CommandAck(0x10)
    send(dev, cmds.lcd_line(1, "Theme 3"))
    assert read(dev) is None
    assert base.lcd[0] == "Theme 3         "
    send(dev, cmds.Command(0x15))
    assert decode_report(read(dev) or b"\0") == CommandAck(0x15)
    assert read(dev) == bytes.fromhex("01 15 04 05 21 41 01 02 66").ljust(64, b"\0")
    with pytest.raises(usb.core.USBError) as short:
        dev.ctrl_transfer(*SET_REPORT, b"\x01\x16")
    assert short.value.errno == errno.EPIPE


def test_a_frequency_change_is_followed_by_codes_without_votes_once_a_poll_opens() -> None:
    backend, _ = bus()
    dev = claimed(backend)
    send(dev, cmds.set_frequency("BD"))
    assert [decode_report(r) for r in iter(lambda: read(dev), None)] == [CommandAck(0x10)]
    for command in cmds.start_sequence(Generation.V2):
        send(dev, command)
    reports = [decode_report(r) for r in iter(lambda: read(dev), None)]
    assert reports[-5] == CommandAck(0x11)  # the poll is open; then the codes
    codes = [s.code for r in reports[-4:] if isinstance(r, VoteReport) for s in r.slots]
    assert codes == [0xAA, 0x00, 0xAA, 0x86]


def answer_to(dev: usb.core.Device, command: bytes) -> bytes:
    """Send ``command`` and read the one report that answers it, as iclickerpoll does: the
    next report to arrive is taken to be the answer, whatever it is."""
    assert dev.ctrl_transfer(*SET_REPORT, command.ljust(REPORT_SIZE, b"\0")) == REPORT_SIZE
    answer = read(dev)
    assert answer is not None, f"no answer to {command.hex(' ')}"
    return answer


def test_an_independent_clients_init_reads_each_answer_after_a_frequency_change() -> None:
    backend, _ = bus()
    dev = claimed(backend)
    # iclickerpoll's init: set the frequency (BD: 0x21 + 1, 0x41 + 3), expect 01 10 AA;
    # then 01 16, expect 01 16 AA. Anything else in between and it gives up.
    assert answer_to(dev, bytes.fromhex("01 10 22 44"))[:3] == bytes.fromhex("01 10 AA")
    assert answer_to(dev, bytes.fromhex("01 16"))[:3] == bytes.fromhex("01 16 AA")
    assert read(dev) is None  # nothing else was waiting


def plan_for(n: int, seed: int = 1, duration_s: float = 60.0):  # type: ignore[no-untyped-def]
    ids = make_handset_ids(n, "iclicker", seed=seed)
    return Audience(ids, seed=seed + 1).plan("ABCDE", duration_s=duration_s, change_rate=0.3)


def open_poll(dev: usb.core.Device, generation: Generation) -> None:
    for command in cmds.start_sequence(generation):
        send(dev, command)


def test_v2_reports_repeat_pair_and_wrap_as_a_base_does() -> None:
    behaviour = BaseBehaviour(resend_rate=0.3, twin_slot_rate=0.1, legacy_rate=0.2)
    air = Air(RfConditions(loss=0.1), seed=5, host_acks=True)
    backend, base = bus(air=air, behaviour=behaviour, seed=5)
    plan = plan_for(300)
    base.load(plan)
    dev = claimed(backend)
    open_poll(dev, Generation.V2)
    votes = []
    while not base.drained:
        data = read(dev)
        if data is not None and isinstance(decoded := decode_report(data), VoteReport):
            votes.append(decoded)
    slots = [s for v in votes for s in v.slots]
    triples = Counter((s.handset, s.key, s.index) for s in slots)
    assert max(triples.values()) > 1  # retransmits and re-sends repeat a response
    assert sum(1 for v in votes if v.second is not None) > len(votes) // 10  # two slots
    assert any(v.first == v.second for v in votes)  # the same slot twice
    assert {s.code for s in slots} >= {0x01, 0x81}  # i>clicker 1 and 2 remotes
    on_zero = {(h, k) for h, k, i in triples if i == 0}
    assert len(on_zero) >= 2
    assert any(i == 255 for _, _, i in triples)
    last = {}
    f = ResponseFilter()
    for v in votes:
        for r in f.accept(v.responses()).new:
            last[r.handset] = r.key
    assert last == plan.answers()


def test_v1_answers_pulls_with_at_most_14_records_per_report() -> None:
    backend, base = bus(Generation.V1, behaviour=BaseBehaviour(resend_rate=1.0), seed=2)
    plan = plan_for(40)
    base.load(plan)
    dev = claimed(backend)
    open_poll(dev, Generation.V1)
    while read(dev) is not None:  # answers; the air runs until 28 records wait
        pass
    send(dev, cmds.pull(0))
    assert decode_report(read(dev) or b"\0") == CommandAck(0x17)
    pulled = [decode_report(r) for r in iter(lambda: read(dev), None)]
    assert all(isinstance(p, PullReport) for p in pulled)
    assert [p.more for p in pulled] == [True, False]  # type: ignore[union-attr]
    assert [len(p.records) for p in pulled] == [14, 14]  # type: ignore[union-attr]
    last = pulled[-1].last_index  # type: ignore[union-attr]
    send(dev, cmds.pull(last))
    read(dev)
    again = decode_report(read(dev) or b"\0")
    assert isinstance(again, PullReport)
    assert again.after_index < last  # a re-send: it starts a few records early


def test_a_finite_speed_follows_the_clock() -> None:
    clock = ManualClock()
    backend, base = bus(speed=10.0, clock=clock.time)
    plan = plan_for(30, duration_s=20.0)
    base.load(plan)
    dev = claimed(backend)
    open_poll(dev, Generation.V2)
    heard: set[str] = set()

    def drain() -> None:
        while (data := read(dev)) is not None:
            if isinstance(decoded := decode_report(data), VoteReport):
                heard.update(r.handset for r in decoded.responses())

    drain()
    assert heard == set()
    clock.advance(0.5)  # 5 simulated seconds
    drain()
    first: dict[str, float] = {}
    for p in plan.presses:
        first.setdefault(p.handset, p.at)
    assert {h for h, at in first.items() if at < 4.0} <= heard
    assert not {h for h, at in first.items() if at > 5.5} & heard
    clock.advance(10.0)
    drain()
    assert heard == {p.handset for p in plan.presses}


def test_unplug_wakes_a_blocked_read_and_the_device_vanishes() -> None:
    backend, base = bus()
    dev = claimed(backend)
    device = backend.devices[0]
    errors: list[usb.core.USBError] = []

    def blocked_read() -> None:
        try:
            dev.read(ENDPOINT_IN, REPORT_SIZE, timeout=10_000)
        except usb.core.USBError as exc:
            errors.append(exc)

    reader = threading.Thread(target=blocked_read)
    reader.start()
    device.unplug()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert [e.errno for e in errors] == [errno.ENODEV]
    assert usb.core.find(idVendor=VENDOR_ID, idProduct=PRODUCT_ID, backend=backend) is None
    with pytest.raises(usb.core.USBError) as gone:
        dev.ctrl_transfer(*SET_REPORT, cmds.Command(0x16).to_bytes())
    assert gone.value.errno == errno.ENODEV

    old_address = dev.address
    device.replug()
    with pytest.raises(usb.core.USBError):  # the old handle stays dead
        dev.read(ENDPOINT_IN, REPORT_SIZE, timeout=1)
    again = usb.core.find(idVendor=VENDOR_ID, idProduct=PRODUCT_ID, backend=backend)
    assert again is not None
    assert again.address != old_address
    assert again.is_kernel_driver_active(0)  # usbhid bound it again
    assert base.lcd == [" " * 16, " " * 16]
    assert not base.poll_open
