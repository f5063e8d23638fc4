/* format.h -- tensors as text, in the manner of numpy: aligned columns, the middle of
 * large dimensions elided, a footer naming the type and shape. */
#ifndef ENTRO_FORMAT_H
#define ENTRO_FORMAT_H
#include "tensor.h"

/* Returns a malloc'd string (caller frees), or NULL with a message. Dimensions longer than
 * 2*edge+1 show edge items at each end when the tensor has more than `threshold` elements. */
char *entro_tensor_format(const entro_tensor *t, int64_t threshold, int64_t edge);

#endif
