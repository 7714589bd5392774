//! A slab with u32 handles and a free list.

pub(crate) struct Pool<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Pool<T> {
    pub(crate) fn insert(&mut self, item: T) -> u32 {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(item);
                i
            }
            None => {
                self.items.push(Some(item));
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 items")
            }
        }
    }

    pub(crate) fn remove(&mut self, i: u32) -> Option<T> {
        let item = self.items.get_mut(i as usize)?.take()?;
        self.free.push(i);
        self.len -= 1;
        Some(item)
    }

    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)?.as_ref()
    }

    /// The item at `i`, which must be live.
    pub(crate) fn at(&self, i: u32) -> &T {
        self.items[i as usize].as_ref().expect("live pool item")
    }

    pub(crate) fn at_mut(&mut self, i: u32) -> &mut T {
        self.items[i as usize].as_mut().expect("live pool item")
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }
}
