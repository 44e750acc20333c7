"""kymotrace.io: formats, channels, axes, polarity, calibration and every input error."""

from __future__ import annotations

import logging

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from kymotrace.errors import InputError, OptionError
from kymotrace.io import (
    MIN_SIZE,
    Calibration,
    as_kymograph,
    check_kymograph_array,
    detect_polarity,
    read_kymograph,
)


def kymo(rng, shape=(32, 40), dtype=np.uint16, background=100.0, amplitude=400.0):
    """Bright-on-dark kymograph: three straight tracks on Gaussian noise."""
    t = np.arange(shape[0])[:, None]
    x = np.arange(shape[1])[None, :]
    img = rng.normal(background, 5.0, shape)
    for x0, v in ((5.0, 0.5), (20.0, 0.0), (35.0, -0.7)):
        img += amplitude * np.exp(-0.5 * ((x - (x0 + v * t)) / 1.0) ** 2)
    return np.clip(img, 0, None).astype(dtype)


# --------------------------------------------------------------------------- TIFF


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_tiff_dtypes_read_exactly(tmp_path, rng, dtype):
    data = kymo(rng, dtype=np.float64).astype(dtype) if dtype != np.uint8 else kymo(rng, amplitude=100, dtype=dtype)
    f = tmp_path / "k.tif"
    tifffile.imwrite(f, data)
    k = read_kymograph(f)
    assert k.image.dtype == np.float32
    assert k.image.shape == data.shape
    np.testing.assert_array_equal(k.image, data.astype(np.float32))
    assert k.dtype == np.dtype(dtype).name
    assert k.path == str(f) and k.axes == "TX"
    assert k.polarity == "detected bright-on-dark" and not k.inverted
    assert k.calibration == Calibration()
    assert k.calibration.source == "none"


def test_imagej_calibration(tmp_path, rng):
    f = tmp_path / "ij.tif"
    tifffile.imwrite(f, kymo(rng), imagej=True, resolution=(1 / 0.16, 1 / 0.16),
                     metadata={"unit": "um", "finterval": 0.5})
    cal = read_kymograph(f).calibration
    assert cal.pixel_size == pytest.approx(0.16)
    assert cal.frame_interval == pytest.approx(0.5)
    assert (cal.source, cal.pixel_size_source, cal.frame_interval_source) == ("file", "file", "file")
    assert cal.calibrated


def test_imagej_units_are_converted(tmp_path, rng):
    f = tmp_path / "ij.tif"
    # 10 px per µm (ImageJ's escaped micro sign), 2 min per frame
    tifffile.imwrite(f, kymo(rng), imagej=True, resolution=(10.0, 10.0),
                     metadata={"unit": "\\u00B5m", "finterval": 2, "tunit": "min"})
    cal = read_kymograph(f).calibration
    assert cal.pixel_size == pytest.approx(0.1)
    assert cal.frame_interval == pytest.approx(120.0)
    g = tmp_path / "nm.tif"
    tifffile.imwrite(g, kymo(rng), imagej=True, resolution=(0.01, 0.01), metadata={"unit": "nm"})
    assert read_kymograph(g).calibration.pixel_size == pytest.approx(0.1)  # 100 nm


def test_imagej_time_along_y_axis(tmp_path, rng):
    # a Fiji kymograph whose y axis is calibrated in seconds: 2 px per s -> 0.5 s per frame
    f = tmp_path / "ij.tif"
    tifffile.imwrite(f, kymo(rng), imagej=True, resolution=(1 / 0.2, 2.0),
                     metadata={"unit": "micron", "yunit": "sec"})
    cal = read_kymograph(f).calibration
    assert cal.pixel_size == pytest.approx(0.2)
    assert cal.frame_interval == pytest.approx(0.5)
    # the same file read as XT: position runs down the rows, which are in seconds: not a length
    cal_xt = read_kymograph(f, axes="XT").calibration
    assert cal_xt.pixel_size is None
    assert cal_xt.frame_interval is None


def test_imagej_unknown_unit_is_noted(tmp_path, rng):
    f = tmp_path / "ij.tif"
    tifffile.imwrite(f, kymo(rng), imagej=True, resolution=(2.0, 2.0), metadata={"unit": "furlong"})
    k = read_kymograph(f)
    assert k.calibration.pixel_size is None
    assert any("ImageJ unit 'furlong' not understood" in n for n in k.notes)


def test_ome_calibration(tmp_path, rng):
    f = tmp_path / "ome.tif"
    tifffile.imwrite(f, kymo(rng), ome=True, metadata={
        "axes": "YX", "PhysicalSizeX": 0.2, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": 300.0,
        "PhysicalSizeYUnit": "nm", "TimeIncrement": 100.0, "TimeIncrementUnit": "ms"})
    cal = read_kymograph(f).calibration
    assert cal.pixel_size == pytest.approx(0.2)
    assert cal.frame_interval == pytest.approx(0.1)
    assert cal.source == "file"
    # XT: position runs along the file's rows, so PhysicalSizeY is the pixel size
    assert read_kymograph(f, axes="XT").calibration.pixel_size == pytest.approx(0.3)


def test_user_calibration_overrides_file(tmp_path, rng):
    f = tmp_path / "ij.tif"
    tifffile.imwrite(f, kymo(rng), imagej=True, resolution=(1 / 0.16, 1 / 0.16),
                     metadata={"unit": "um", "finterval": 0.5})
    cal = read_kymograph(f, pixel_size=0.3).calibration
    assert cal.pixel_size == 0.3 and cal.frame_interval == pytest.approx(0.5)
    assert (cal.source, cal.pixel_size_source, cal.frame_interval_source) == ("mixed", "user", "file")
    cal = read_kymograph(f, pixel_size=0.3, frame_interval=2.0).calibration
    assert (cal.pixel_size, cal.frame_interval, cal.source) == (0.3, 2.0, "user")
    cal = as_kymograph(kymo(rng), frame_interval=0.25).calibration
    assert (cal.pixel_size, cal.frame_interval, cal.source) == (None, 0.25, "user")
    assert cal.describe() == "pixel size unknown, 0.25 s/frame (user)"


def test_malformed_ome_is_read_from_pages_with_a_note(tmp_path, rng, caplog):
    f = tmp_path / "bad_ome.tif"
    data = kymo(rng)
    bad = ('<?xml version= 1.0  encoding= UTF-8 ?><OME xmlns= http://www.openmicroscopy.org/Schemas/'
           'OME/2016-06 ><Image ID= Image:0 ><Pixels PhysicalSizeX= 0.2 /></Image></OME>')
    tifffile.imwrite(f, data, description=bad, metadata=None)
    with caplog.at_level(logging.DEBUG):
        k = read_kymograph(f)
    np.testing.assert_array_equal(k.image, data.astype(np.float32))
    assert k.calibration.pixel_size is None
    assert any("OME-XML metadata is malformed" in n and "read from its TIFF pages" in n for n in k.notes)
    assert not [r for r in caplog.records if r.name.startswith("tifffile")]  # tifffile's error swallowed
    ours = [r for r in caplog.records if r.name == "kymotrace.io" and r.levelno == logging.WARNING]
    assert any("OME-XML metadata is malformed" in r.getMessage() for r in ours)


def test_tiff_stack_error_names_axis_and_fix(tmp_path):
    f = tmp_path / "movie.tif"
    tifffile.imwrite(f, np.zeros((12, 30, 40), np.uint8))
    with pytest.raises(InputError) as e:
        read_kymograph(f)
    msg = str(e.value)
    assert str(f) in msg
    assert "this TIFF has 12 planes (axis T or Z (unlabelled pages) of shape (12, 30, 40)" in msg
    assert "kymotrace expects one 2-D kymograph" in msg
    assert "save a single plane" in msg and "`kymotrace kymograph`" in msg
    g = tmp_path / "ij_movie.tif"
    tifffile.imwrite(g, np.zeros((5, 30, 40), np.uint16), imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(InputError, match=r"5 planes \(axis T \(time\) of shape \(5, 30, 40\)"):
        read_kymograph(g)


def test_tiff_with_a_single_leading_plane_is_fine(tmp_path, rng):
    f = tmp_path / "one.tif"
    data = kymo(rng)[None]
    tifffile.imwrite(f, data, imagej=True, metadata={"axes": "TYX"})
    assert read_kymograph(f).image.shape == (32, 40)


def test_multichannel_tiff_needs_channel(tmp_path, rng):
    f = tmp_path / "c.tif"
    data = np.stack([kymo(rng), kymo(rng)])
    tifffile.imwrite(f, data, imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(InputError, match=r"2 colour channels with different content .*channel=0\.\.1"):
        read_kymograph(f)
    np.testing.assert_array_equal(read_kymograph(f, channel=1).image, data[1].astype(np.float32))
    with pytest.raises(OptionError, match=r"channel=2 does not exist; this image has 2 channels \(use 0\.\.1\)"):
        read_kymograph(f, channel=2)


def test_rgb_tiff_equal_channels_is_grey(tmp_path, rng):
    f = tmp_path / "rgb.tif"
    grey = kymo(rng, amplitude=100, dtype=np.uint8)
    tifffile.imwrite(f, np.stack([grey] * 3, axis=-1), photometric="rgb")
    k = read_kymograph(f)
    np.testing.assert_array_equal(k.image, grey.astype(np.float32))
    assert k.dtype == "uint8"


def test_corrupt_and_truncated_tiff(tmp_path):
    f = tmp_path / "broken.tif"
    f.write_bytes(b"II*\x00" + b"\xff" * 60)
    with pytest.raises(InputError, match=r"broken\.tif: cannot read this TIFF .*damaged or truncated: re-export"):
        read_kymograph(f)
    g = tmp_path / "cut.tif"
    tifffile.imwrite(g, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    g.write_bytes(g.read_bytes()[:3000])
    with pytest.raises(InputError, match=r"cut\.tif: cannot read this TIFF \(ValueError: .*\); the file may be "
                                         r"damaged or truncated"):
        read_kymograph(g)


# --------------------------------------------------------------------------- PNG / JPEG / others


def test_png_grey_8_and_16_bit(tmp_path, rng):
    for dtype in (np.uint8, np.uint16):
        data = kymo(rng, amplitude=100, dtype=dtype)
        f = tmp_path / f"g{np.dtype(dtype).itemsize}.png"
        Image.fromarray(data).save(f)
        k = read_kymograph(f)
        np.testing.assert_array_equal(k.image, data.astype(np.float32))
        assert k.dtype == np.dtype(dtype).name


def test_png_rgb_equal_channels_is_grey(tmp_path, rng):
    grey = kymo(rng, amplitude=100, dtype=np.uint8)
    f = tmp_path / "rgb.png"
    Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB").save(f)
    k = read_kymograph(f)
    np.testing.assert_array_equal(k.image, grey.astype(np.float32))
    assert not k.notes


def test_png_rgb_different_channels(tmp_path, rng):
    grey = kymo(rng, amplitude=100, dtype=np.uint8)
    rgb = np.stack([grey, grey // 2, np.zeros_like(grey)], axis=-1)
    f = tmp_path / "colour.png"
    Image.fromarray(rgb, mode="RGB").save(f)
    with pytest.raises(InputError) as e:
        read_kymograph(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: the image has 3 colour channels with different content (0=red mean")
    assert "choose a channel with channel=0..2 (command line: --channel N)" in msg
    k = read_kymograph(f, channel=1)
    np.testing.assert_array_equal(k.image, (grey // 2).astype(np.float32))
    assert "used channel 1 of 3" in k.notes


def test_png_16_bit_rgb_keeps_all_bits(tmp_path, rng):
    grey = kymo(rng, amplitude=3000)
    f = tmp_path / "rgb16.png"
    f.write_bytes(imagecodecs.png_encode(np.stack([grey] * 3, axis=-1)))
    k = read_kymograph(f)
    np.testing.assert_array_equal(k.image, grey.astype(np.float32))
    assert k.dtype == "uint16"


def test_png_grey_palette(tmp_path, rng):
    idx = kymo(rng, amplitude=100, dtype=np.uint8) // 4  # palette indices 0..63
    palette = []
    for i in range(256):
        palette += [2 * i] * 3 if i < 128 else [255] * 3  # grey levels 2*i
    im = Image.fromarray(idx, mode="L").convert("P")
    im.putpalette(palette)
    im = Image.frombytes("P", im.size, idx.tobytes())
    im.putpalette(palette)
    f = tmp_path / "pal.png"
    im.save(f)
    with Image.open(f) as check:
        assert check.mode == "P"
    k = read_kymograph(f)
    np.testing.assert_array_equal(k.image, (2 * idx).astype(np.float32))
    assert any("palette" in n for n in k.notes)


def test_png_colour_palette_needs_channel(tmp_path):
    idx = np.zeros((16, 16), np.uint8)
    idx[:, 8] = 1
    im = Image.frombytes("P", (16, 16), idx.tobytes())
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # black and pure red
    f = tmp_path / "red.png"
    im.save(f)
    with pytest.raises(InputError, match="3 colour channels with different content"):
        read_kymograph(f)
    k = read_kymograph(f, channel=0)
    assert k.image[:, 8].tolist() == [255.0] * 16 and k.image[:, 0].tolist() == [0.0] * 16


def test_png_alpha_is_dropped_with_a_note(tmp_path, rng):
    grey = kymo(rng, amplitude=100, dtype=np.uint8)
    alpha = np.full_like(grey, 255)
    f = tmp_path / "la.png"
    Image.fromarray(np.stack([grey, alpha], axis=-1), mode="LA").save(f)
    k = read_kymograph(f)
    np.testing.assert_array_equal(k.image, grey.astype(np.float32))
    assert not k.notes
    alpha[0, 0] = 0
    g = tmp_path / "rgba.png"
    Image.fromarray(np.stack([grey, grey, grey, alpha], axis=-1), mode="RGBA").save(g)
    k = read_kymograph(g)
    np.testing.assert_array_equal(k.image, grey.astype(np.float32))
    assert "the image has transparent pixels; transparency was ignored" in k.notes


def test_jpeg_grey_and_rgb(tmp_path, rng):
    grey = kymo(rng, amplitude=100, dtype=np.uint8)
    f = tmp_path / "g.jpg"
    Image.fromarray(grey).save(f, quality=95)
    k = read_kymograph(f)
    assert k.dtype == "uint8" and k.image.shape == grey.shape
    assert np.abs(k.image - grey).max() < 20  # lossy
    assert any("JPEG is lossy" in n for n in k.notes)
    g = tmp_path / "rgb.jpg"
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(g, quality=95)
    k = read_kymograph(g)  # grey content stored as RGB: accepted despite small colour errors
    assert k.image.shape == grey.shape


def test_animated_gif_is_a_stack(tmp_path, rng):
    frames = [Image.fromarray(kymo(rng, amplitude=100, dtype=np.uint8)) for _ in range(3)]
    f = tmp_path / "movie.gif"
    frames[0].save(f, save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match=r"this GIF has 3 frames \(axis T of shape \(3, 32, 40\)\); "
                                         r"kymotrace expects one 2-D kymograph"):
        read_kymograph(f)


def test_not_an_image(tmp_path):
    f = tmp_path / "notes.png"
    f.write_text("these are not pixels\n")
    with pytest.raises(InputError) as e:
        read_kymograph(f)
    assert str(e.value) == (f"{f}: not an image kymotrace can read (the content is not TIFF, PNG or JPEG); "
                            "save the kymograph as TIFF (preferred) or PNG")


def test_truncated_png(tmp_path, rng):
    f = tmp_path / "cut.png"
    Image.fromarray(kymo(rng, amplitude=100, dtype=np.uint8)).save(f)
    f.write_bytes(f.read_bytes()[:80])
    with pytest.raises(InputError, match=r"cut\.png: cannot read this image .*damaged or truncated: re-export"):
        read_kymograph(f)


def test_empty_missing_and_folder(tmp_path):
    f = tmp_path / "empty.tif"
    f.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.tif: the file is empty \(0 bytes\)"):
        read_kymograph(f)
    with pytest.raises(InputError, match=r"nope\.tif: file not found; check the path"):
        read_kymograph(tmp_path / "nope.tif")
    with pytest.raises(InputError, match="is a folder, not an image file"):
        read_kymograph(tmp_path)


def test_empty_tiff_image(tmp_path):
    f = tmp_path / "zero.tif"
    with pytest.warns(UserWarning, match="zero-size"):  # tifffile warns about writing this
        tifffile.imwrite(f, np.zeros((0, 10), np.uint8))
    with pytest.raises(InputError, match=r"zero\.tif: the image is empty \(shape \(0, 10\)"):
        read_kymograph(f)


# --------------------------------------------------------------------------- arrays and validation


def test_check_kymograph_array_returns_float32_copy(rng):
    data = kymo(rng)
    out = check_kymograph_array(data, "k")
    assert out.dtype == np.float32 and out.shape == data.shape
    f32 = data.astype(np.float32)
    assert check_kymograph_array(f32) is not f32
    edge = check_kymograph_array(np.eye(MIN_SIZE))  # the smallest usable size
    assert edge.shape == (MIN_SIZE, MIN_SIZE)
    assert MIN_SIZE == 8


@pytest.mark.parametrize("array, message", [
    (np.zeros((0, 10)), r"a: the image is empty \(shape \(0, 10\), no pixels\)"),
    (np.arange(20.0), r"a: got a 1-D array of shape \(20,\); a kymograph is a 2-D image \[t, x\]"),
    (np.zeros((3, 20, 20)), r"a: got a 3-D array of shape \(3, 20, 20\) \(a stack\); kymotrace expects one "
                            r"2-D kymograph .* e\.g\. pass array\[0\]"),
    (np.eye(7, 40), r"a: the image is 7 frames x 40 positions; kymotrace needs at least 8 px in each direction"),
    (np.eye(40, 5), r"a: the image is 40 frames x 5 positions"),
    (np.full((10, 10), 3.0), r"a: every pixel has the same value \(3\); there is nothing to trace"),
    (np.array([["a"] * 10] * 10), r"a: pixel data of type <U1 is not a real-valued image"),
    (np.eye(10) * 1j, r"a: pixel data of type complex128 is not a real-valued image"),
    (np.eye(10) * 1e300, r"a: intensities up to 1e\+300 do not fit in 32-bit floats; rescale"),
])
def test_check_kymograph_array_errors(array, message):
    with pytest.raises(InputError, match=message):
        check_kymograph_array(array, "a")


def test_nan_and_inf_are_located():
    a = np.eye(10)
    a[4, 7] = np.nan
    a[5, 1] = np.inf
    a[6, 2] = np.nan
    with pytest.raises(InputError) as e:
        check_kymograph_array(a, "k.tif")
    assert str(e.value) == ("k.tif: 2 NaN and 1 infinite pixel value(s) (first at frame 4, position 7); "
                            "kymotrace needs finite intensities everywhere: replace them (e.g. with the "
                            "background level) before analysing")


def test_nan_in_float_tiff(tmp_path):
    f = tmp_path / "nan.tif"
    a = np.eye(10, dtype=np.float32)
    a[2, 3] = np.nan
    tifffile.imwrite(f, a)
    with pytest.raises(InputError, match=r"nan\.tif: 1 NaN and 0 infinite pixel value\(s\) \(first at frame 2, "
                                         r"position 3\)"):
        read_kymograph(f)


def test_as_kymograph_array_input(rng):
    data = kymo(rng)
    k = as_kymograph(data[None], name="mine")
    np.testing.assert_array_equal(k.image, data.astype(np.float32))
    assert k.path is None and k.dtype == "uint16"
    with pytest.raises(InputError, match=r"mine: this array has 2 planes \(axis T or Z \(unlabelled pages\) of "
                                         r"shape \(2, 32, 40\)"):
        as_kymograph(np.stack([data, data]), name="mine")
    rgb = np.stack([data, data, data], axis=-1)
    np.testing.assert_array_equal(as_kymograph(rgb).image, data.astype(np.float32))
    assert as_kymograph(data > 200).dtype == "uint8"  # bool becomes 0/1


# --------------------------------------------------------------------------- axes


def test_xt_transposes_file_and_array(tmp_path, rng):
    data = kymo(rng, shape=(32, 40))
    f = tmp_path / "xt.tif"
    tifffile.imwrite(f, data.T)  # stored as [x, t]
    k = read_kymograph(f, axes="XT")
    np.testing.assert_array_equal(k.image, data.astype(np.float32))
    assert k.axes == "XT" and k.image.shape == (32, 40)
    assert "axes='XT': transposed position x time to [t, x]" in k.notes
    np.testing.assert_array_equal(as_kymograph(data.T, axes="xt").image, data.astype(np.float32))


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("kwargs, message", [
    ({"axes": "YX"}, r"axes='YX' is not allowed; use 'TX' \(rows are frames, columns positions"),
    ({"axes": 2}, r"axes=2 is not allowed"),
    ({"invert": "maybe"}, r"invert='maybe' is not allowed; use 'auto'"),
    ({"channel": -1}, r"channel=-1 is not allowed; use a 0-based channel index"),
    ({"channel": 1.5}, r"channel=1\.5 is not allowed"),
    ({"pixel_size": 0}, r"pixel_size=0 is not allowed; give a positive number in µm/px"),
    ({"frame_interval": float("nan")}, r"frame_interval=nan is not allowed; give a positive number in s/frame"),
    ({"frame_interval": "fast"}, r"frame_interval='fast' is not allowed"),
])
def test_bad_options(tmp_path, rng, kwargs, message):
    with pytest.raises(OptionError, match=message):
        as_kymograph(kymo(rng), **kwargs)
    f = tmp_path / "k.tif"
    tifffile.imwrite(f, kymo(rng))
    with pytest.raises(OptionError, match=message):
        read_kymograph(f, **kwargs)


def test_channel_on_grey_image_is_ignored_with_a_note(rng):
    k = as_kymograph(kymo(rng), channel=1)
    assert "channel=1 ignored: the image has a single channel" in k.notes


# --------------------------------------------------------------------------- polarity


def dark_on_light(rng, shape=(40, 48)):
    """Dark tracks on a light noisy background (e.g. a brightfield kymograph), uint8."""
    img = rng.normal(200.0, 4.0, shape)
    for t in range(shape[0]):
        img[t, 6 + t // 2] -= 80
        img[t, 40 - t // 3] -= 60
    return np.clip(img, 0, 255).astype(np.uint8)


def test_dark_on_light_is_detected_and_inverted(tmp_path, rng):
    data = dark_on_light(rng)
    f = tmp_path / "dark.png"
    Image.fromarray(data).save(f)
    k = read_kymograph(f)
    assert k.inverted
    assert k.polarity == "detected dark-on-light (inverted)"
    lo, hi = float(data.min()), float(data.max())
    np.testing.assert_array_equal(k.image, (hi + lo - data.astype(np.float32)).astype(np.float32))
    assert k.image[10, 6 + 5] > np.median(k.image) + 40  # the track is now bright
    dark, score = detect_polarity(data)
    assert dark and score < -0.1
    bright, score = detect_polarity(k.image)
    assert not bright and score > 0.1


def test_bright_on_dark_is_detected_even_with_bleaching(rng):
    data = kymo(rng, shape=(40, 48)).astype(np.float64)
    data *= np.linspace(1.0, 0.4, 40)[:, None]  # bleaching over time
    k = as_kymograph(data)
    assert not k.inverted and k.polarity == "detected bright-on-dark"


def test_forced_polarity(rng):
    data = dark_on_light(rng)
    k = as_kymograph(data, invert=False)
    assert not k.inverted and k.polarity == "forced bright-on-dark (invert=False)"
    np.testing.assert_array_equal(k.image, data.astype(np.float32))
    k = as_kymograph(kymo(rng), invert=True)
    assert k.inverted and k.polarity == "forced dark-on-light (inverted, invert=True)"
    assert as_kymograph(data, invert="auto").inverted


def test_unclear_polarity_is_reported(rng, caplog):
    noise = rng.normal(100.0, 5.0, (40, 40))
    with caplog.at_level(logging.INFO, logger="kymotrace.io"):
        k = as_kymograph(noise, name="noise")
    assert not k.inverted and k.polarity == "assumed bright-on-dark (unclear)"
    assert any(n.startswith("polarity is unclear") and "invert=True" in n for n in k.notes)
    assert any(r.levelno == logging.WARNING and "noise: polarity is unclear" in r.getMessage()
               for r in caplog.records)


def test_polarity_judge_decides_only_when_the_histogram_is_unclear(rng, caplog):
    calls = []

    def judge(image):
        calls.append(image.shape)
        return True

    noise = rng.normal(100.0, 5.0, (40, 40))
    with caplog.at_level(logging.INFO, logger="kymotrace.io"):
        k = as_kymograph(noise, name="noise", polarity_judge=judge)
    assert calls == [(40, 40)]
    assert k.inverted and k.polarity.startswith("dark-on-light (inverted), decided by the segmenter")
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)  # decided: no warning
    np.testing.assert_allclose(k.image, noise.max() + noise.min() - noise, rtol=1e-6)
    # a clear histogram never asks; a forced polarity never asks
    assert as_kymograph(dark_on_light(rng), polarity_judge=judge).polarity == "detected dark-on-light (inverted)"
    assert not as_kymograph(noise, invert=False, polarity_judge=judge).inverted
    assert len(calls) == 1
    # a judge without an opinion leaves the old rule and its warning
    k = as_kymograph(noise, name="noise", polarity_judge=lambda image: None)
    assert not k.inverted and k.polarity == "assumed bright-on-dark (unclear)"
    k = as_kymograph(noise, name="noise", polarity_judge=lambda image: False)
    assert not k.inverted and k.polarity.startswith("bright-on-dark, decided by the segmenter")
