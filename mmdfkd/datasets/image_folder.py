"""Classification images stored one folder per class (ImageNet layout)."""
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset

from mmdfkd.registry import DATASETS

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class ImageFolderDataset(BaseDataset):
    """Images in class-per-subfolder layout, as torchvision's ``ImageFolder``.

    ::

        data_root/data_prefix['img_path']/
            n01440764/xxx.JPEG        class 0 (class names sorted)
            n01443537/yyy.png         class 1
            ...

    Class names are the subfolder names, sorted, unless
    ``metainfo=dict(classes=(...))`` fixes them (and their order) — then
    only those subfolders are read. Files are found recursively inside each
    class folder, kept when their extension (case-insensitive) is in
    ``extensions``, and listed in sorted order. Each data info holds
    ``img_path`` and ``gt_label``; the pipeline starts with
    ``LoadImageFromFile``.

    Args:
        data_root (str): Root folder.
        data_prefix (dict): ``dict(img_path='train')`` picks a split folder
            under ``data_root``. Default: ``dict(img_path='')``.
        extensions (Sequence[str]): Kept file extensions, with the dot.
            Default: common image formats (``IMG_EXTENSIONS``).
        metainfo (dict, optional): ``dict(classes=(...))`` to fix the classes.
        **kwargs: Other arguments of :class:`~mmengine.dataset.BaseDataset`.
    """

    def __init__(self,
                 data_root: str,
                 data_prefix: Optional[dict] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        self.extensions = tuple(e.lower() if e.startswith('.') else f'.{e.lower()}' for e in extensions)
        self._fixed_classes = metainfo is not None and 'classes' in metainfo
        super().__init__(data_root=data_root, data_prefix=data_prefix or dict(img_path=''), metainfo=metainfo,
                         **kwargs)

    def _folder(self) -> str:
        return self.data_prefix['img_path'] or self.data_root

    def load_data_list(self) -> List[dict]:
        """Scan the class folders.

        Returns:
            list[dict]: one dict per image with ``img_path`` and ``gt_label``.
        """
        folder = self._folder()
        if not osp.isdir(folder):
            raise FileNotFoundError(f'ImageFolderDataset: folder {folder!r} does not exist; set data_root (and '
                                    "data_prefix=dict(img_path='<split>')) to a folder with one subfolder per class.")
        if self._fixed_classes:
            classes = tuple(self._metainfo['classes'])
            absent = [c for c in classes if not osp.isdir(osp.join(folder, c))]
            if absent:
                raise FileNotFoundError(f'ImageFolderDataset: class folders {absent[:10]} are missing in {folder!r}.')
        else:
            classes = tuple(sorted(e.name for e in os.scandir(folder) if e.is_dir()))
            if not classes:
                raise FileNotFoundError(f'ImageFolderDataset: {folder!r} has no subfolders; put the images of '
                                        'each class in a subfolder named after the class.')
            self._metainfo['classes'] = classes
        data_list = []
        for label, name in enumerate(classes):
            class_dir = osp.join(folder, name)
            paths = []
            for dirpath, _, files in os.walk(class_dir, followlinks=True):
                paths += [osp.join(dirpath, f) for f in files if osp.splitext(f)[1].lower() in self.extensions]
            data_list += [dict(img_path=path, gt_label=label) for path in sorted(paths)]
        if not data_list:
            raise FileNotFoundError(f'ImageFolderDataset: no files with extensions {self.extensions} under '
                                    f'{folder!r}; check the folder or the extensions argument.')
        return data_list
