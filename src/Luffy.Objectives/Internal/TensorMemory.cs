using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>The host memory of CPU tensors, for the library's SIMD loops.</summary>
internal static unsafe class TensorMemory
{
    /// <summary>
    /// The address of <paramref name="tensor"/>'s first element: a contiguous CPU tensor (callers make it so), valid while
    /// the tensor lives and is not resized.
    /// </summary>
    public static void* Pointer(Tensor tensor) => Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes));
}
