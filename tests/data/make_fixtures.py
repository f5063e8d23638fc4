#!/usr/bin/env python3
# make_fixtures.py -- writes the small IDX/CSV fixtures of tests/lua/test_data.lua into this
# directory (run it from anywhere; the files are committed, this documents how they were made).
import gzip, os, struct

here = os.path.dirname(os.path.abspath(__file__))

def idx(shape, values, type_byte=0x08, fmt='B'):
    head = bytes([0, 0, type_byte, len(shape)]) + b''.join(struct.pack('>I', s) for s in shape)
    return head + b''.join(struct.pack('>' + fmt, v) for v in values)

def put(name, data, gz=False):
    path = os.path.join(here, name)
    if gz:
        # mtime 0 keeps the bytes reproducible
        with open(path, 'wb') as f, gzip.GzipFile(fileobj=f, mode='wb', mtime=0, filename='') as g:
            g.write(data)
    else:
        with open(path, 'wb') as f:
            f.write(data)

# 3 images of 2x2, values 0, 20, ..., 220; and their labels 0, 9, 4
images = idx([3, 2, 2], [20 * i for i in range(12)])
put('tiny-images-idx3-ubyte.gz', images, gz=True)
put('tiny-labels-idx1-ubyte', idx([3], [0, 9, 4]))

# bad files
gz = gzip.compress(images, mtime=0)
varied = idx([64, 8, 8], [(i * 7919) % 251 for i in range(64 * 8 * 8)])
cut = gzip.compress(varied, mtime=0)
put('truncated.idx.gz', cut[:len(cut) // 2])                           # cut inside the deflate stream
put('bad-crc.idx.gz', gz[:-8] + bytes([gz[-8] ^ 0xff]) + gz[-7:])      # CRC-32 trailer flipped
put('wrong-magic.idx', b'\x89PNG\r\n\x1a\n' + bytes(16))               # a foreign file
put('short-data.idx', idx([10, 2, 2], [1] * 12))                       # header promises 40 bytes, holds 12
put('overflow.idx', bytes([0, 0, 0x08, 3]) + struct.pack('>III', 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
put('trailing.idx', idx([3], [1, 2, 3]) + b'junk')

# a copy of the MNIST layout: 4 training images of 2x3 (gzip), 2 test images (plain files)
put('mnist-like/train-images-idx3-ubyte.gz', idx([4, 2, 3], [(10 * i) % 256 for i in range(24)]), gz=True)
put('mnist-like/train-labels-idx1-ubyte.gz', idx([4], [3, 0, 9, 1]), gz=True)
put('mnist-like/t10k-images-idx3-ubyte', idx([2, 2, 3], [255] * 6 + [0] * 6))
put('mnist-like/t10k-labels-idx1-ubyte', idx([3], [5, 6, 7]))                # one label too many

# CSV
put('small.csv', b'a,b,c\n1,2,3\n4.5,-1e3,nan\n')
put('ragged.csv', b'a,b\n1,2\n3\n')
put('not-numbers.csv', b'1,2\n3,x7\n')
