using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>Guard clauses shared by every public entry point. None of them reads tensor values (no device sync).</summary>
internal static class TensorGuard
{
    public static void NotNull(Tensor? tensor, string name)
    {
        if (tensor is null)
        {
            throw new ArgumentNullException(name);
        }
        if (tensor.IsInvalid)
        {
            throw new ObjectDisposedException(name, $"{name} has been disposed; pass a live tensor (a dispose scope may have freed it).");
        }
        if (tensor.device_type == DeviceType.META)
        {
            throw new ArgumentException($"{name} is on the meta device, which holds shapes but no data; move it to the CPU or an accelerator.", name);
        }
        if (tensor.is_sparse)
        {
            throw new ArgumentException($"{name} is a sparse tensor; a dense one is expected (call to_dense()).", name);
        }
    }

    public static string Shape(Tensor tensor) => "[" + string.Join(", ", tensor.shape) + "]";

    public static void Floating(Tensor tensor, string name)
    {
        NotNull(tensor, name);
        if (!is_floating_point(tensor))
        {
            throw new ArgumentException($"{name} has dtype {tensor.dtype}; a floating-point dtype (float32, float64, bfloat16 or float16) is expected.", name);
        }
    }

    public static void Integral(Tensor tensor, string name)
    {
        NotNull(tensor, name);
        if (!is_integral(tensor.dtype) || tensor.dtype == ScalarType.Bool)
        {
            throw new ArgumentException($"{name} has dtype {tensor.dtype}; an integer dtype (int64 or int32) is expected.", name);
        }
    }

    public static void Rank(Tensor tensor, string name, int rank, string layout)
    {
        NotNull(tensor, name);
        if (tensor.dim() != rank)
        {
            throw new ArgumentException($"{name} has shape {Shape(tensor)}; it must be {layout}.", name);
        }
    }

    /// <summary>Requires <paramref name="tensor"/> to have exactly the shape of <paramref name="reference"/>: nothing is broadcast.</summary>
    public static void SameShape(Tensor tensor, string name, Tensor reference, string referenceName, string layout)
    {
        NotNull(tensor, name);
        if (!tensor.shape.SequenceEqual(reference.shape))
        {
            throw new ArgumentException(
                $"{name} has shape {Shape(tensor)} but {referenceName} has shape {Shape(reference)}; both must be {layout}.", name);
        }
    }

    public static void SameLeadingDimension(Tensor tensor, string name, Tensor reference, string referenceName, string layout)
    {
        NotNull(tensor, name);
        if (tensor.dim() < 1 || reference.dim() < 1 || tensor.shape[0] != reference.shape[0])
        {
            throw new ArgumentException(
                $"{name} has shape {Shape(tensor)} but {referenceName} has shape {Shape(reference)}; {layout}.", name);
        }
    }

    public static void SameDtype(Tensor tensor, string name, Tensor reference, string referenceName)
    {
        if (tensor.dtype != reference.dtype)
        {
            throw new ArgumentException($"{name} has dtype {tensor.dtype} but {referenceName} has dtype {reference.dtype}; they must match.", name);
        }
    }

    public static void SameDevice(Tensor tensor, string name, Tensor reference, string referenceName)
    {
        if (tensor.device_type != reference.device_type || tensor.device_index != reference.device_index)
        {
            throw new ArgumentException($"{name} is on {tensor.device} but {referenceName} is on {reference.device}; they must be on the same device.", name);
        }
    }

    /// <summary>A bool or integer mask as a bool tensor: non-zero means "included".</summary>
    public static Tensor AsBoolMask(Tensor mask) => mask.dtype == ScalarType.Bool ? mask.alias() : mask.ne(0);

    /// <summary>
    /// Masks are bool or an integer dtype (non-zero = set). Floating-point masks are refused: a value such as 0.5 or NaN
    /// has no single meaning, and telling them apart would need a device sync.
    /// </summary>
    public static void MaskDtype(Tensor mask, string name)
    {
        NotNull(mask, name);
        if (!is_integral(mask.dtype))
        {
            throw new ArgumentException($"{name} has dtype {mask.dtype}; a mask must be bool or an integer dtype (non-zero = set). Convert a 0/1 float mask with mask.ne(0) or mask.to_type(ScalarType.Bool).", name);
        }
    }

    public static void Mask(Tensor mask, string name, Tensor reference, string referenceName, string layout)
    {
        MaskDtype(mask, name);
        SameShape(mask, name, reference, referenceName, layout);
        SameDevice(mask, name, reference, referenceName);
    }

    /// <summary>Validates a companion tensor of the same layout, dtype and device as <paramref name="reference"/>.</summary>
    public static void Companion(Tensor tensor, string name, Tensor reference, string referenceName, string layout)
    {
        SameShape(tensor, name, reference, referenceName, layout);
        SameDtype(tensor, name, reference, referenceName);
        SameDevice(tensor, name, reference, referenceName);
    }

    /// <summary>
    /// What a user-implemented extension (shaping function, ratio reshaping) returned must be element-wise: exactly the
    /// shape, dtype and device of its input, so that nothing is broadcast silently and libtorch's size errors never
    /// stand in for the extension's name.
    /// </summary>
    /// <returns><paramref name="result"/>.</returns>
    /// <exception cref="InvalidOperationException">The result is null, disposed, or of another shape, dtype or device.</exception>
    public static Tensor ExtensionOutput(Tensor? result, Tensor input, string extension)
    {
        if (result is null || result.IsInvalid)
        {
            throw new InvalidOperationException($"{extension} returned {(result is null ? "null" : "a disposed tensor")}; it must return a fresh tensor of the input's shape {Shape(input)} and dtype {input.dtype}.");
        }
        if (!result.shape.SequenceEqual(input.shape) || result.dtype != input.dtype || result.device_type != input.device_type || result.device_index != input.device_index)
        {
            throw new InvalidOperationException(
                $"{extension} returned a tensor of shape {Shape(result)}, dtype {result.dtype} on {result.device}; it must be element-wise: shape {Shape(input)}, dtype {input.dtype} on {input.device}, as its input.");
        }
        return result;
    }

    /// <returns><paramref name="value"/>, for one-line validating <c>init</c> accessors.</returns>
    public static double Positive(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number greater than 0.");
        }
        return value;
    }

    /// <returns><paramref name="value"/>, for one-line validating <c>init</c> accessors.</returns>
    public static double NonNegative(double value, string name)
    {
        if (!(value >= 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number greater than or equal to 0.");
        }
        return value;
    }

    /// <returns><paramref name="value"/>, for one-line validating <c>init</c> accessors.</returns>
    public static double Finite(double value, string name)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number.");
        }
        return value;
    }
}
